module github.com/sspr-project/sspr

go 1.26
