import sys

from campy.cli import main

sys.exit(main())
