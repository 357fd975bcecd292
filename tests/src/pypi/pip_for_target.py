import json, os, sys
import pip._vendor.packaging.markers as markers
target = json.loads(os.environ["FEAS_MARKER_ENV"])
host = markers.default_environment
def for_target():
    env = host()
    env.update(target)
    return env
markers.default_environment = for_target
from pip._internal.cli.main import main
sys.exit(main(sys.argv[1:]))
