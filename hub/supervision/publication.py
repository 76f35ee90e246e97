"""What a county credit-evaluation publication (信用评价结果公示) carries beyond the scores:
the issuing authority, the publicity period (公示期), where and how to object (异议), the
date and seal lines, and each company's unified social credit code (统一社会信用代码).

These are the authority's facts, so they come from config (``config/disclosure.yaml``), never
from code; a key left empty is printed as a visible placeholder that names the key, so a
draft cannot pass for a publication.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from models.site import ConfigError

DEFAULT_PUBLICATION = Path(__file__).resolve().parents[2] / "config" / "disclosure.yaml"


class Publication(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    issuing_authority: str = ""  # 发布单位, e.g. the county housing and construction bureau
    publicity_days: int = Field(default=0, ge=0, le=90)  # 公示期 in days
    objection_channel: str = ""  # 异议渠道: where and how an objection is lodged
    objection_contact: str = ""  # 联系人及电话
    issue_date_text: str = ""  # the date line as the authority writes it
    seal_text: str = ""  # the seal line (盖章), e.g. "（盖章）"
    credit_codes: dict[str, str] = Field(default_factory=dict)  # company id -> 统一社会信用代码

    def line(self, key: str) -> str:
        """The configured text of ``key``, or a placeholder naming the key."""
        value = getattr(self, key)
        if value in ("", 0, None):
            return f"〔未配置 not configured: disclosure.{key}〕"
        return str(value)

    def credit_code(self, company: str) -> str:
        return self.credit_codes.get(company) or f"〔未配置: disclosure.credit_codes.{company}〕"


def load_publication(path: Path | None = None) -> Publication:
    """The publication settings; none configured (no file) gives placeholders only."""
    import yaml
    from pydantic import ValidationError

    path = path or DEFAULT_PUBLICATION
    if not path.exists():
        return Publication()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return Publication.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise ConfigError(f"{path}: {key}: {err['msg']}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not YAML: {exc}") from None
