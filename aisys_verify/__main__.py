import sys

from aisys_verify.cli import main

sys.exit(main())
