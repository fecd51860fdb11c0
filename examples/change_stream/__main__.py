import sys

from examples.change_stream.app import main

sys.exit(main())
