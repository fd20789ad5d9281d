module github.com/outpost-go/outposts/rac-outpost

go 1.26.0

require github.com/outpost-go/outposts/authclient v0.0.0-00010101000000-000000000000

replace github.com/outpost-go/outposts/authclient => ../authclient
