"""What the app says to a person: refusals as toasts, and user text that shows as text, never as markup."""

import html
import re
import string

import gradio as gr

# Every ASCII punctuation character may be backslash-escaped in CommonMark; escaped, none of them can
# open a link, an autolink (":" and "." included), an HTML tag, emphasis or code.
MARKDOWN_PUNCTUATION = re.compile(f"([{re.escape(string.punctuation)}])")


def refused(message: str, title: str) -> gr.Error:
    """The toast for a request the user can fix (no server traceback: nothing went wrong here).

    Gradio renders a toast's message as HTML, and messages quote what users typed or stored."""
    return gr.Error(html.escape(message, quote=False), title=title, print_exception=False)


def literal(text: str) -> str:
    """`text` for a Markdown component, shown exactly as typed."""
    return MARKDOWN_PUNCTUATION.sub(r"\\\1", text)


def without_badges(event, outputs: list) -> None:
    """After `event` is refused, leave its outputs as they were but without gradio's red "Error" badge over each:
    the toast already says what was wrong and what to do."""
    unchanged = (lambda: gr.update()) if len(outputs) == 1 else (lambda: tuple(gr.update() for _ in outputs))
    event.failure(unchanged, None, outputs, api_visibility="private", show_progress="hidden")
