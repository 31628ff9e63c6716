import sys

from langchain_cris.cli import main

sys.exit(main())
