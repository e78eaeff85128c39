"""LeRobot v0.6's language-annotation names that recording code touches: the default tool catalogue.

LeRobot v0.6 lets a dataset declare the tools (OpenAI-style function schemas) its language annotations may call,
in ``info.json["tools"]``; `LeRobotDatasetMetadata.tools` falls back to `DEFAULT_TOOLS` when none are declared.
The annotation pipeline itself is not part of this library.
"""

from __future__ import annotations

#: The one tool LeRobot's annotations use out of the box: say a sentence to the user (text to speech).
SAY_TOOL_SCHEMA: dict = {
    "type": "function",
    "function": {
        "name": "say",
        "description": "Say a short sentence to the user out loud (text to speech).",
        "parameters": {
            "type": "object",
            "properties": {"text": {"type": "string", "description": "What to say, word for word."}},
            "required": ["text"],
        },
    },
}

#: What `LeRobotDatasetMetadata.tools` returns for a dataset that declares none.
DEFAULT_TOOLS: list[dict] = [SAY_TOOL_SCHEMA]
