"""The supervision loop. Importing the package registers its tables; its services subscribe to the workflow."""
from supervision import models  # noqa: F401
