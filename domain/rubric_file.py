"""A rubric added as data (考核细则文件): one hash-chained aggregate per rubric id, holding the document.

Adding it is an event, so the document a year pinned by content hash is in the history and
`verify` guards it like every other event. One id names one content: the id is the aggregate's
name, so a second, different document under the same id conflicts.
"""

from __future__ import annotations

from uuid import UUID

from domain.chained import ChainedAggregate, named_id
from domain.errors import Conflict
from domain.rubric import Rubric


def rubric_file_id(rubric_id: str) -> UUID:
    return named_id("rubric", rubric_id)


class RubricFile(ChainedAggregate):
    class Added(ChainedAggregate.Started):
        rubric_id: str
        title: str
        content_hash: str
        document: str  # the JSON text as it was added; parsed again (with Decimal) when loaded

        def evolve(self, r: RubricFile) -> None:
            r.rubric_id = self.rubric_id
            r.title = self.title
            r.content_hash = self.content_hash
            r.document = self.document

    @classmethod
    def add(cls, *, rubric: Rubric, text: str, actor: dict) -> RubricFile:
        return cls._start(cls.Added, rubric_file_id(rubric.id), rubric_id=rubric.id, title=rubric.title,
                          content_hash=rubric.content_hash, document=text, actor=actor)

    def check_same(self, rubric: Rubric) -> None:
        """Adding the same document again changes nothing; another document under this id is refused."""
        if rubric.content_hash != self.content_hash:
            raise Conflict(f"考核细则 {rubric.id} 已存在且内容不同，请使用新的 id "
                           f"(rubric {rubric.id} already exists with other content; choose a new id)", field="rubric")
