from corpus.cli import main
import sys
sys.exit(main())
