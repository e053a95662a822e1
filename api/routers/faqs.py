"""/faqs: published answers for everyone; admins write them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select

from api.crud import Access, Resource, crud_router
from api.schemas.content import FaqCreate, FaqFilters, FaqOut, FaqUpdate
from domain.access import Role
from domain.models.content import Faq
from domain.models.users import User


class FaqAccess(Access[Faq]):
    public_read = True

    def visible(self, user: User | None, stmt: Select[Any]) -> Select[Any]:
        if user is not None and user.user_type == Role.ADMIN:
            return stmt
        return stmt.where(Faq.is_published.is_(True))


faqs = Resource(
    model=Faq,
    name="faq",
    out=FaqOut,
    create=FaqCreate,
    update=FaqUpdate,
    access=FaqAccess(),
    filters=FaqFilters,
    search=(Faq.question, Faq.answer),
    sortable=("display_order", "created_at", "category"),
    default_sort="display_order",
    translated=("question", "answer"),
)

TAG = {"name": "faqs", "description": "Frequently asked questions"}
ORDER = 60
router = crud_router(faqs, prefix="/faqs", tag="faqs")
