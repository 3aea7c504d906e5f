"""All mapped models, imported here so ``Base.metadata`` is complete for migrations and tests."""

from .catalog import Category, Product
from .changes import ProfileChange, RefreshMark
from .day_counts import MessageDay, SegmentDay
from .messaging import ChannelPause, ConsentChange, Message, MessageEvent, MessageTemplate
from .privacy import Erasure
from .profiles import Profile
from .records import Job, JobLine, Opportunity, Quote, QuoteLine, SupportTicket
from .rfm_cells import RfmCell
from .saved_views import SavedView
from .scheduling import SchedulerJob, SchedulerLease
from .segment_sources import SegmentSource
from .segments import RfmCutoff, RfmScore, Segment, SegmentEvent, SegmentMember, SegmentSizePoint
from .senders import Sender
from .tags import (
    AutoTagRule,
    BulkOperation,
    BulkOperationItem,
    JobTag,
    JobTagSuppression,
    OpportunityTag,
    OpportunityTagSuppression,
    ProfileTag,
    ProfileTagSuppression,
    QuoteTag,
    QuoteTagSuppression,
    Tag,
    TagEvent,
)
from .tasks import BackgroundTask
from .users import ApiKey, User
from .workflows import Enrollment, EnrollmentStep, Workflow

# Last: it replaces trigger functions the modules above install after create_all.
from . import empty_statements  # noqa: E402,F401  isort: skip
from . import source_count_costs  # noqa: E402,F401  isort: skip  (after the functions it sets)

__all__ = [
    "BackgroundTask",
    "ApiKey",
    "AutoTagRule",
    "BulkOperation",
    "BulkOperationItem",
    "Category",
    "ChannelPause",
    "ConsentChange",
    "Enrollment",
    "EnrollmentStep",
    "Erasure",
    "Job",
    "JobLine",
    "JobTag",
    "JobTagSuppression",
    "Message",
    "MessageDay",
    "MessageEvent",
    "MessageTemplate",
    "Opportunity",
    "OpportunityTag",
    "OpportunityTagSuppression",
    "Product",
    "Profile",
    "ProfileChange",
    "ProfileTag",
    "ProfileTagSuppression",
    "Quote",
    "QuoteLine",
    "QuoteTag",
    "QuoteTagSuppression",
    "SavedView",
    "RefreshMark",
    "RfmCell",
    "RfmCutoff",
    "RfmScore",
    "SchedulerJob",
    "SchedulerLease",
    "Segment",
    "SegmentDay",
    "SegmentSource",
    "SegmentEvent",
    "SegmentMember",
    "SegmentSizePoint",
    "Sender",
    "SupportTicket",
    "Tag",
    "TagEvent",
    "User",
    "Workflow",
]
