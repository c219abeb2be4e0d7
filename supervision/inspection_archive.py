"""The case archive (档案, issue 19) keeps the 现场踏勘 records of a case (issue 17): each record as JSON and its
photographs, as documents/site-inspection-<n>.json and documents/site-inspection-<n>-photo-<m>.<ext>, so that the
package of a concluded case shows what the inspection found without the platform."""
from __future__ import annotations

import json

from delegation import inspections
from exchange.bus import get_bus
from supervision import archive

EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg"}


@archive.register_document_source
def inspection_documents(case):
    blobs = get_bus().blobs
    for n, record in enumerate(inspections.of_case(case), 1):
        view = inspections.view(record)
        view["photos"] = [{"name": p["name"], "media_type": p["media_type"], "sha256": p["sha256"]}
                          for p in view["photos"]]  # the database ids mean nothing outside this node
        yield f"site-inspection-{n}.json", json.dumps(view, ensure_ascii=False, sort_keys=True, indent=1,
                                                      default=lambda v: v.isoformat()).encode()
        for photo in record.photos:
            yield (f"site-inspection-{n}-photo-{photo.position + 1}{EXTENSIONS.get(photo.media_type, '')}",
                   blobs.get(photo.sha256))
