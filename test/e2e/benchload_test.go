package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// Where a benchmark's time went on the machine: every process's CPU time, and the API server's
// own latency by request kind. Printed with fmt (b.Log truncates a benchmark's output).

// clockTicks is the kernel's USER_HZ, the unit of /proc/<pid>/stat's times (100 on Linux).
const clockTicks = 100

// cpuTimes is the CPU time of every running process (its own and that of the children it waited
// for — git, for the daemon), by pid, with its command name.
func cpuTimes() map[int]procCPU {
	out := map[int]procCPU{stealPID: {name: "(steal)", cpu: steal()}}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(d + "/stat")
		if err != nil {
			continue // gone since the glob
		}
		s := string(raw)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open {
			continue
		}
		f := strings.Fields(s[close+1:]) // f[0] is field 3 (state): utime is field 14 → f[11]
		if len(f) < 15 {
			continue
		}
		field := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
		out[pid] = procCPU{name: s[open+1 : close],
			cpu:    time.Duration(field(11)+field(12)+field(13)+field(14)) * time.Second / clockTicks, // utime, stime, cutime, cstime
			sys:    time.Duration(field(12)+field(14)) * time.Second / clockTicks,
			faults: field(7) + field(8)} // minflt, cminflt
	}
	return out
}

// stealPID keys the machine's steal time (a hypervisor running others on its cores) among the
// processes: a run is only comparable with one that saw as little.
const stealPID = -1

// steal is the time the machine's virtual CPUs waited for the host, all CPUs summed (/proc/stat).
func steal() time.Duration {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	f := strings.Fields(strings.SplitN(string(raw), "\n", 2)[0]) // cpu user nice system idle iowait irq softirq steal …
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	v, _ := strconv.ParseInt(f[8], 10, 64)
	return time.Duration(v) * time.Second / clockTicks
}

type procCPU struct {
	name     string
	cpu, sys time.Duration // sys: the part spent in the kernel
	faults   int64         // minor page faults (memory first touched, or given back and touched again)
}

// reportCPU prints the CPU time each command used since before, over wall: which process takes
// the machine's cores, and whether they were all busy.
func reportCPU(before map[int]procCPU, wall time.Duration) {
	used := map[string]procCPU{}
	var total time.Duration
	for pid, p := range cpuTimes() {
		d := procCPU{cpu: p.cpu - before[pid].cpu, sys: p.sys - before[pid].sys, faults: p.faults - before[pid].faults}
		if before[pid].name != p.name {
			d = p // a new process (or a reused pid)
		}
		if d.cpu > 0 {
			u := used[p.name]
			used[p.name] = procCPU{cpu: u.cpu + d.cpu, sys: u.sys + d.sys, faults: u.faults + d.faults}
			if pid != stealPID {
				total += d.cpu
			}
		}
	}
	names := make([]string, 0, len(used))
	for n := range used {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return used[names[i]].cpu > used[names[j]].cpu })
	fmt.Printf("    CPU over %.1f s: %.1f CPU-s of %d cores' %.1f (%.0f %%)\n", wall.Seconds(), total.Seconds(),
		runtime.NumCPU(), wall.Seconds()*float64(runtime.NumCPU()), 100*total.Seconds()/(wall.Seconds()*float64(runtime.NumCPU())))
	for _, n := range names {
		if u := used[n]; u.cpu >= 100*time.Millisecond {
			fmt.Printf("      %-24s %7.1f CPU-s (%4.1f in the kernel) %9d page faults\n", n, u.cpu.Seconds(), u.sys.Seconds(), u.faults)
		}
	}
}

// serverLatency is the API server's apiserver_request_duration_seconds sums and counts by verb,
// resource and subresource.
type serverLatency map[string][2]float64

func scrapeServerLatency(b *testing.B, cfg *rest.Config) serverLatency {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := hc.Get(cfg.Host + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	out := serverLatency{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var i int
		switch {
		case strings.HasPrefix(line, "apiserver_request_duration_seconds_sum{"):
			i = 0
		case strings.HasPrefix(line, "apiserver_request_duration_seconds_count{"):
			i = 1
		default:
			continue
		}
		labels := line[strings.IndexByte(line, '{')+1 : strings.LastIndexByte(line, '}')]
		key := label(labels, "verb") + " " + label(labels, "resource")
		if sub := label(labels, "subresource"); sub != "" {
			key += "/" + sub
		}
		v, _ := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		e := out[key]
		e[i] += v
		out[key] = e
	}
	return out
}

func label(labels, name string) string {
	i := strings.Index(labels, name+`="`)
	if i < 0 || i > 0 && labels[i-1] != ',' {
		return ""
	}
	rest := labels[i+len(name)+2:]
	return rest[:strings.IndexByte(rest, '"')]
}

// reportServerLatency prints the request kinds that took the API server the most time since
// before: how many, the mean latency, and the time summed (over wall: the mean in flight).
func reportServerLatency(b *testing.B, cfg *rest.Config, before serverLatency, wall time.Duration) {
	after := scrapeServerLatency(b, cfg)
	type row struct {
		key        string
		sum, count float64
	}
	var rows []row
	var total float64
	for k, v := range after {
		r := row{k, v[0] - before[k][0], v[1] - before[k][1]}
		if r.count > 0 {
			rows = append(rows, r)
			total += r.sum
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].sum > rows[j].sum })
	fmt.Printf("    API server: %.0f request-s over %.1f s (%.1f in flight on average)\n", total, wall.Seconds(), total/wall.Seconds())
	for _, r := range rows[:min(len(rows), 15)] {
		fmt.Printf("      %-40s %7.0f × %6.1f ms = %6.1f s\n", r.key, r.count, 1000*r.sum/r.count, r.sum)
	}
}
