"""Message templates: the context a message renders with, composing and rendering (in a
sandboxed process), the stored and shipped texts, previews."""
