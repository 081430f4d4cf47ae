# Shortcuts for scripts/run.sh (which does all set-up itself; make is optional).
.PHONY: demo test test-slow bench setup
demo test test-slow bench setup:
	bash scripts/run.sh $@
