package video_test

import (
	"fmt"

	"github.com/corb-dev/corb/connectors/video"
)

func ExampleParseSource() {
	for _, spec := range []string{"lobby.mp4", "dir:/srv/uploads", "rtsp://admin:secret@cam7/stream1", "/dev/video0"} {
		src, err := video.ParseSource(spec)
		if err != nil {
			fmt.Println(err)
			continue
		}
		fmt.Printf("%-6s live=%-5v %s\n", src.Kind, src.Kind.Live(), src)
	}
	// Output:
	// file   live=false lobby.mp4
	// dir    live=false /srv/uploads
	// stream live=true  rtsp://admin:xxxxx@cam7/stream1
	// device live=true  /dev/video0
}

func ExampleSuffixRules() {
	rules, err := video.ParseSuffixRules("*.mp4, avi")
	if err != nil {
		panic(err)
	}
	fmt.Println(rules, rules.Match("CAM1.MP4"), rules.Match("cam1.mp4.part"), rules.Match(".upload.mp4"))
	// Output: *.mp4,*.avi true false false
}
