"""The bundled demo help center of Brightleaf Tea Co. (docs/demo-business.md) and its labelled questions."""

from pathlib import Path

DEMO_DIR = Path(__file__).parent
#: Markdown articles with front matter (audience, plans, topic, url).
ARTICLES_DIR = DEMO_DIR / "articles"
#: Labelled retrieval questions for `contextdesk kb eval`.
QUESTIONS_PATH = DEMO_DIR / "questions.yaml"
