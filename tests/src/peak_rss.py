import resource, subprocess, sys
r = subprocess.run(sys.argv[1:])
sys.stderr.write('\npeak-rss-kib %d\n' % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(r.returncode)
