# Convenience targets; each is one script under scripts/.
.PHONY: demo test sample bench dist

demo:    ## build, then run the main job on the bundled sample release, offline
	./scripts/demo

test:    ## install what the tests need (apt) and run the whole suite
	./scripts/test

dist:    ## build release archives and write their checksums into plugin.yaml
	./scripts/dist

sample:  ## rebuild sample/mirror with the project's generator and the sample key
	./scripts/make-sample
