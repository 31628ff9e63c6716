"""langchain-cris."""
