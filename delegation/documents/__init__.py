"""What the applicant takes home (issue 16): the decision documents (准予/不予行政许可决定书) numbered in the deciding
authority's own series, and the proof of service (送达回证) of the hand-out. The models are in `models`, the
numbering in `numbering`, issuing and the hand-out record in `service`, the legal wording in `templates/` and
its rendering in `render`."""
