"""The supervision loop. Importing the package registers its tables; its services subscribe to the workflow."""
from supervision import models  # noqa: F401
from supervision import rollup  # noqa: F401  statistics rollups; marks months dirty on every flush
from supervision import credit  # noqa: F401  credit records: listens to "terminate"
from delegation import grants  # noqa: F401  applies delegation.change (revocation / restoration)
from supervision import spotchecks  # noqa: F401  tells the grants how to look up a spot-check finding
from supervision import push_create  # noqa: F401  the double push: listens to "approve"
from supervision import push_messages  # noqa: F401  applies supervision.push / .claim / .feedback
from delegation import window_decisions  # noqa: F401  告知承诺, 即办件, 备案 decided at the window (issue 17)
from supervision import commitment_checks  # noqa: F401  告知承诺 verification by the regulator
from supervision import inspection_archive  # noqa: F401  现场踏勘 records and photos in the case archive (issue 17)
from supervision import credit_publish  # noqa: F401  credit records published from the city (reference.publish)
from delegation import holiday_publish  # noqa: F401  the holiday table published from the city (reference.publish)
from delegation import catalogue_publish  # noqa: F401  the catalogue published from the city; cases note its version
from supervision import fact_reports  # noqa: F401  case facts reported to the city (stats.case_facts, issue 18)
