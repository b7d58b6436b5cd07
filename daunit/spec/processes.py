"""ProcessesSpec: Unit's process pool for one app."""
from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, StrictInt, ValidationInfo, field_validator, model_validator

from daunit.spec.base import Spec, invalid, show
from daunit.spec.types import OutOfRange

MAX_PROCESSES = 64


class ProcessesSpec(Spec):
    """Unit's dynamic process pool; an integer N in config means N static processes."""

    max: Annotated[StrictInt, Field(ge=1, le=MAX_PROCESSES), OutOfRange(
        "processes max {value} is out of range: use {ge} to {le}")] = 2
    # With no spare process Unit starts no worker when the config is applied,
    # so a release whose module fails to import is accepted and then answers
    # 503; with one, Unit refuses it and the old release keeps serving.
    spare: Annotated[StrictInt, Field(ge=1), OutOfRange(
        "processes spare must be at least {ge}: with 0, Unit accepts a broken release "
        "and answers 503 instead of refusing it")] = 1
    idle_timeout: Annotated[StrictInt, Field(ge=1, le=86400), OutOfRange(
        "processes idleTimeout {value} is out of range: use {ge} to {le} seconds")] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_int(cls, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, (int, dict, ProcessesSpec)):
            raise invalid(f"processes {show(data)} is not a number of processes: use a whole number "
                          f"from 1 to {MAX_PROCESSES} (a static pool) or an object like {{max: 4, spare: 1}}")
        if isinstance(data, int):
            if not 1 <= data <= MAX_PROCESSES:
                raise invalid(f"processes {data} is out of range: use 1 to {MAX_PROCESSES} static processes, "
                              "or an object like {max: 4, spare: 1}")
            return {"max": data, "spare": data}
        return data

    @field_validator("spare")
    @classmethod
    def _spare_within_max(cls, value: int, info: ValidationInfo) -> int:
        maximum = info.data.get("max")
        if maximum is not None and value > maximum:
            raise invalid(f"processes spare {value} is more than max {maximum}: use at most {maximum}")
        return value

    def to_unit(self) -> int | dict[str, int]:
        """Unit's `processes` value: an int for a static pool, else the object."""
        if self.max == self.spare and self.idle_timeout is None:
            return self.max
        out = {"max": self.max, "spare": self.spare}
        if self.idle_timeout is not None:
            out["idle_timeout"] = self.idle_timeout
        return out
