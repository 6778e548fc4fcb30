"""Help that shows what each option takes: a flag (`--json`, `--dry-run`) takes no value, so it shows none. Typer
labels every option with its type (`<bool>`), which reads as if the flag took one; it then refuses the value."""

from typing import Any


def hide_flag_types() -> None:
    """Show no type for flags in typer's rich help (applies to every command rendered after the call)."""
    from typer.core import TyperOption

    original = TyperOption.display_type_rich
    if getattr(original, "_flags_hidden", False):
        return

    def display_type_rich(self: Any, ctx: Any) -> str | None:
        if getattr(self, "is_flag", False):
            return None
        label = original(self, ctx)
        if getattr(self, "multiple", False) and isinstance(label, str) and label.startswith("<list["):
            return f"<{label[len('<list[') : -len(']>')]}> (repeatable)"  # one value per occurrence
        return label

    display_type_rich._flags_hidden = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]
