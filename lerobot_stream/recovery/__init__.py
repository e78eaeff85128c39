"""After a crash: `recover` puts a dataset back in a consistent state, `salvage` commits the episode a dead
recorder had not saved (from its row journal and the cameras' fragmented MP4s, `video_prefix`), and
`integrity` checks a dataset's files against its metadata."""
