module github.com/vigil-cc/vigil

go 1.26

require (
	github.com/jezek/xgb v1.3.1
	pgregory.net/rapid v1.3.0 // indirect
)
