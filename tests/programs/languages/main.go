package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
)

func depth(n int) int {
	if n == 0 {
		return 0
	}
	return 1 + depth(n-1)
}

func main() {
	switch os.Args[1] {
	case "sort":
		in := bufio.NewReaderSize(os.Stdin, 1<<16)
		out := bufio.NewWriter(os.Stdout)
		defer out.Flush()
		var n int
		fmt.Fscan(in, &n)
		a := make([]int64, n)
		for i := range a {
			fmt.Fscan(in, &a[i])
		}
		sort.Slice(a, func(i, j int) bool { return a[i] < a[j] })
		for i, x := range a {
			out.WriteString(strconv.FormatInt(x, 10))
			if i+1 < n {
				out.WriteByte(' ')
			} else {
				out.WriteByte('\n')
			}
		}
	case "deep":
		done := make(chan int)
		go func() { done <- depth(100000) }()
		fmt.Println("depth", <-done)
	case "stdin":
		f, err := os.Open("/dev/stdin")
		if err != nil {
			fmt.Println("refused", err)
			return
		}
		var sum, x int64
		for {
			if _, err := fmt.Fscan(f, &x); err != nil {
				break
			}
			sum += x
		}
		fmt.Println("sum", sum)
	case "file":
		f, err := os.Open(os.Args[2])
		if err != nil {
			fmt.Println("refused", err)
			os.Exit(1)
		}
		line, _ := bufio.NewReader(f).ReadString('\n')
		fmt.Print("read ", line)
	case "socket":
		c, err := net.Dial("tcp", "127.0.0.1:9")
		if err != nil {
			fmt.Println("refused", err)
			return
		}
		fmt.Println("socket ok")
		c.Close()
	}
}
