# Runs Autobahn|Testsuite's `wstest` under Python 2.7 from a `pip install --target` folder.
#     python2.7 tests/autobahn/wstest_py27.py SITE_DIR -m fuzzingserver -s spec.json
# (site.addsitedir, unlike PYTHONPATH, also reads the folder's .pth files: zope needs them.)
import site
import sys

site.addsitedir(sys.argv.pop(1))

from autobahntestsuite.wstest import run

sys.argv[0] = "wstest"
sys.exit(run())
