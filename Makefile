# Thin aliases for ./dev, which does the work (and needs only python3 and bash).
.PHONY: demo test bench setup
demo: ; ./dev demo
test: ; ./dev test
bench: ; ./dev bench
setup: ; ./dev setup
