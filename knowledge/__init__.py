"""Knowledge base: ingest help-center content, embed it offline, retrieve passages with citations.

Entry points: `knowledge.store.open_store`, `knowledge.service.ingest`, `knowledge.retrieval.search`
(hard audience filter: `viewer="visitor" | "customer" | "agent"`), `knowledge.evaluation.evaluate`.
"""
