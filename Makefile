# The two commands of this project (see README.md). The logic lives in scripts/.
.PHONY: run test
run:
	bash scripts/run.sh
test:
	bash scripts/test.sh
