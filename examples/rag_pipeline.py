"""A retrieval pipeline whose every Bedrock call, retrieval included, obeys the EU policy.

Documents (``examples/data/handbook/*.md``) are embedded with Amazon Titan Text Embeddings v2
through ``BedrockEmbeddingsCRIS``, which checks every embedding call's route against the policy
before sending (Titan v2 has no cross-Region profile, so it runs in-Region: in the client's own
EU Region); queries embedded inside the bound chain are checked against the chain's policy.
They go into an ``InMemoryVectorStore``; questions run through
``retriever | prompt | ChatBedrockCRIS | parser`` bound to the policy with ``with_residency``,
so the chat model is sent to an ``eu.`` profile from an EU source Region.

It prints the documents retrieved for each question, the embedding calls (model, source and
served Region) and, per model call, the profile, source Region and served Region.

Run it::

    python examples/rag_pipeline.py                  # embedded local Bedrock, no AWS account
    python examples/rag_pipeline.py --aws            # real Amazon Bedrock
    python examples/rag_pipeline.py --policy europe  # another bundled policy
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from operator import itemgetter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    Backend,
    CallLine,
    add_backend_args,
    load_policy,
    open_backend,
    print_calls,
    use_aws,
)
from langchain_core.documents import Document
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import (
    Runnable,
    RunnableLambda,
    RunnableParallel,
    RunnablePassthrough,
)
from langchain_core.vectorstores import InMemoryVectorStore

from langchain_cris.binding import with_residency
from langchain_cris.chat_models import ChatBedrockCRIS
from langchain_cris.embeddings import BedrockEmbeddingsCRIS
from langchain_cris.policy import ResidencyPolicy

CHAT_MODEL = "anthropic.claude-sonnet-4-5-20250929-v1:0"
EMBED_MODEL = "amazon.titan-embed-text-v2:0"
DATA_DIR = Path(__file__).resolve().parent / "data" / "handbook"
QUESTIONS = (
    "How long are customer conversation logs kept?",
    "Where are prompts of European customers processed?",
)
TOP_K = 2


class CountingEmbeddings(BedrockEmbeddingsCRIS):
    """``BedrockEmbeddingsCRIS`` that counts its Bedrock calls (for the example's report)."""

    texts_sent: int = 0

    def _invoke_model(self, input_body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = super()._invoke_model(input_body)
        self.texts_sent += 1
        return response


def make_embeddings(
    policy: ResidencyPolicy, region: str, model_kwargs: dict[str, Any] | None = None
) -> CountingEmbeddings:
    """Embeddings whose route is checked now (fail fast) and again before every call."""
    embeddings = CountingEmbeddings(
        model_id=EMBED_MODEL, region_name=region, residency_policy=policy, **(model_kwargs or {})
    )
    embeddings.route()  # refuses a model or Region outside the policy before any document
    return embeddings


def load_documents(data_dir: Path = DATA_DIR) -> list[Document]:
    """One document per paragraph of each Markdown file, titled by its file's heading."""
    docs = []
    for path in sorted(data_dir.glob("*.md")):
        title = path.stem
        for block in path.read_text(encoding="utf-8").split("\n\n"):
            text = " ".join(block.split())
            if text.startswith("# "):
                title = text[2:]
                continue
            if text:
                docs.append(Document(text, metadata={"source": path.name, "title": title}))
    return docs


def build_chain(
    policy: ResidencyPolicy, region: str, backend: Backend
) -> tuple[Runnable[str, dict[str, Any]], CountingEmbeddings]:
    """Index the documents and build ``retriever | prompt | ChatBedrockCRIS | parser``.

    The chain returns ``{"question", "docs", "answer"}`` so the caller can show what was
    retrieved without a second retrieval.
    """
    embeddings = make_embeddings(policy, region, backend.model_kwargs)
    store = InMemoryVectorStore.from_documents(load_documents(), embeddings)
    retriever = store.as_retriever(search_kwargs={"k": TOP_K})
    prompt = ChatPromptTemplate.from_messages(
        [
            ("system", "Answer only from this context, in one sentence.\n\nContext:\n{context}"),
            ("human", "{question}"),
        ]
    )
    llm = ChatBedrockCRIS(model_id=CHAT_MODEL, region_name=region, **backend.model_kwargs)
    answer = (
        {
            "context": itemgetter("docs") | RunnableLambda(_format_docs),
            "question": itemgetter("question"),
        }
        | prompt
        | llm
        | StrOutputParser()
    )
    chain = RunnableParallel(docs=retriever, question=RunnablePassthrough()).assign(answer=answer)
    return with_residency(chain, policy), embeddings


def main(argv: Sequence[str] | None = None) -> int:
    """Index, ask the questions under the policy, print every Bedrock call.

    Returns:
        0 when every call whose served Region is known ran inside the policy, else 1.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_backend_args(parser)
    parser.add_argument("--policy", default="eu", help="bundled policy: eu, europe, …")
    parser.add_argument("--question", action="append", help="ask this instead (repeatable)")
    args = parser.parse_args(argv)
    policy = load_policy(args.policy)
    questions = args.question or list(QUESTIONS)

    with open_backend(use_aws(args), args.reconcile_timeout) as backend:
        print(f"RAG pipeline on {backend.name}; {policy}\n")
        chain, embeddings = build_chain(policy, args.region, backend)
        lines: list[CallLine] = []
        with backend.handler() as handler:
            for number, question in enumerate(questions, 1):
                result = chain.invoke(question, config={"callbacks": [handler]})
                sources = ",".join(doc.metadata["source"] for doc in result["docs"])
                print(f"retrieved question={number} sources={sources}")
                text = " ".join(result["answer"].split())[:100]
                print(f"answer question={number} text={text!r}")
            lines = print_calls(handler, backend, "rag")
        embed_ok = _print_embeddings(embeddings, backend, policy)

    outside = [line for line in lines if line.in_policy == "NO"]
    if outside or not embed_ok:
        print("RESIDENCY VIOLATION: a call was served outside the policy")
        return 1
    print(f"\n{len(lines)} model calls and {embeddings.texts_sent} embedded texts, all in policy.")
    return 0


def _print_embeddings(
    embeddings: CountingEmbeddings, backend: Backend, policy: ResidencyPolicy
) -> bool:
    """One ``embed`` line: what the route allowed and, locally, where the calls really ran."""
    route = embeddings.last_route or embeddings.route()
    wire = [r for r in backend.runtime_calls("InvokeModel") if r.model_id == route.model_id]
    if wire:
        sources = sorted({str(r.source_region) for r in wire})
        served = sorted({str(r.served_region) for r in wire})
        calls = len(wire)
    else:  # on AWS no API names the served Region in-band; an in-Region call runs at source
        sources = [route.source_region]
        served = sorted(route.destination_regions)
        calls = embeddings.texts_sent
    in_policy = all(region in policy.regions for region in served)
    print(
        f"embed model={route.model_id} route={route.kind} calls={calls} "
        f"source={','.join(sources)} served={','.join(served)} "
        f"in_policy={'yes' if in_policy else 'NO'}"
    )
    return in_policy


def _format_docs(docs: list[Document]) -> str:
    return "\n".join(f"- {doc.page_content} ({doc.metadata['source']})" for doc in docs)


if __name__ == "__main__":
    raise SystemExit(main())
