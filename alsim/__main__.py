import sys

from alsim.cli.main import main

sys.exit(main())
