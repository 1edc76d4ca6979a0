"""The metadata of the report's temporary tables (first texts, opted-out texts, pipeline
meetings): created together and dropped together by `report_first_texts.first_outbound`,
once per report, inside the report's transaction."""

from __future__ import annotations

import sqlalchemy as sa

scratch = sa.MetaData()
