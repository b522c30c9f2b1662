package ringbuf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The tests produce records with the kernel's own ring buffer code: a socket
// filter, written here as raw instructions, reserves a record, fills it and
// submits or discards it, run on demand with BPF_PROG_TEST_RUN. Socket filters
// may call the bpf_ringbuf_* helpers (bpf_base_func_proto) since 5.8, and
// BPF_PROG_TEST_RUN takes their __sk_buff context since 5.2: this works on
// every kernel the suite runs on, 5.10 included.

// TestMain lifts RLIMIT_MEMLOCK: kernels before 5.11 charge BPF maps and
// programs to it, even root's. Without CAP_SYS_RESOURCE (in a container) it
// goes up to the hard limit only.
func TestMain(m *testing.M) {
	lim := unix.Rlimit{Cur: unix.RLIM_INFINITY, Max: unix.RLIM_INFINITY}
	if unix.Setrlimit(unix.RLIMIT_MEMLOCK, &lim) != nil {
		err := unix.Getrlimit(unix.RLIMIT_MEMLOCK, &lim)
		if lim.Cur = lim.Max; err == nil {
			err = unix.Setrlimit(unix.RLIMIT_MEMLOCK, &lim)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "raising RLIMIT_MEMLOCK: %v\n", err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}

// Helper function numbers (include/uapi/linux/bpf.h).
const (
	fnRingbufReserve = 131
	fnRingbufSubmit  = 132
	fnRingbufDiscard = 133
)

// Instruction opcodes (include/uapi/linux/bpf.h, bpf_common.h).
const (
	opLdImm64 = 0x18 // BPF_LD | BPF_IMM | BPF_DW
	opLdxW    = 0x61 // BPF_LDX | BPF_MEM | BPF_W
	opStxW    = 0x63 // BPF_STX | BPF_MEM | BPF_W
	opStxB    = 0x73 // BPF_STX | BPF_MEM | BPF_B
	opAddK    = 0x07 // BPF_ALU64 | BPF_ADD | BPF_K
	opMovK    = 0xb7 // BPF_ALU64 | BPF_MOV | BPF_K
	opMovX    = 0xbf // BPF_ALU64 | BPF_MOV | BPF_X
	opJeqK    = 0x15 // BPF_JMP | BPF_JEQ | BPF_K
	opCall    = 0x85 // BPF_JMP | BPF_CALL
	opExit    = 0x95 // BPF_JMP | BPF_EXIT
)

// cb0 is the offset of cb[0] in struct __sk_buff: the record's sequence number.
const cb0 = 48

// insn is struct bpf_insn.
type insn struct {
	code uint8
	regs uint8 // dst | src<<4
	off  int16
	imm  int32
}

func regs(dst, src uint8) uint8 { return dst | src<<4 }

// recordProg is a program that reserves a record of size bytes in ring, writes
// content(cb[0], size) into it, submits or discards it and returns 1; or returns
// 0 if the ring buffer is full.
func recordProg(ring, size int, discard bool) []insn {
	p := []insn{
		{code: opLdxW, regs: regs(6, 1), off: cb0}, // r6 = seq
		{code: opLdImm64, regs: regs(1, unix.BPF_PSEUDO_MAP_FD), imm: int32(ring)}, {},
		{code: opMovK, regs: regs(2, 0), imm: int32(size)},
		{code: opMovK, regs: regs(3, 0)},
		{code: opCall, imm: fnRingbufReserve},
		{code: opJeqK, regs: regs(0, 0)}, // if r0 == NULL goto full; off set below
		{code: opMovX, regs: regs(7, 6)},
	}
	jeq := len(p) - 2
	for i := range size { // byte i = seq + i
		p = append(p,
			insn{code: opStxB, regs: regs(0, 7), off: int16(i)},
			insn{code: opAddK, regs: regs(7, 0), imm: 1})
	}
	if size >= 4 {
		p = append(p, insn{code: opStxW, regs: regs(0, 6)}) // then seq itself first
	}
	fn := int32(fnRingbufSubmit)
	if discard {
		fn = fnRingbufDiscard
	}
	p = append(p,
		insn{code: opMovX, regs: regs(1, 0)},
		insn{code: opMovK, regs: regs(2, 0)},
		insn{code: opCall, imm: fn},
		insn{code: opMovK, regs: regs(0, 0), imm: 1},
		insn{code: opExit})
	p[jeq].off = int16(len(p) - jeq - 1)
	return append(p, insn{code: opMovK, regs: regs(0, 0)}, insn{code: opExit})
}

// content is what recordProg writes for seq.
func content(seq uint32, size int) []byte {
	b := make([]byte, size)
	for i := range b {
		b[i] = byte(seq + uint32(i))
	}
	if size >= 4 {
		binary.NativeEndian.PutUint32(b, seq)
	}
	return b
}

func bpf(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	fd, _, errno := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

// newRing creates a BPF_MAP_TYPE_RINGBUF map of size bytes.
func newRing(t *testing.T, size uint32) int {
	t.Helper()
	attr := struct{ mapType, keySize, valueSize, maxEntries uint32 }{
		mapType: unix.BPF_MAP_TYPE_RINGBUF, maxEntries: size}
	fd, err := bpf(unix.BPF_MAP_CREATE, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		t.Fatalf("creating ring buffer map: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fd
}

// producer writes records into one ring buffer, numbering them from 0.
type producer struct {
	t     *testing.T
	ring  int
	progs map[progKey]int
	seq   uint32
}

type progKey struct {
	size    int
	discard bool
}

// The attributes below hold their pointers (__aligned_u64) as unsafe.Pointer,
// for the garbage collector to see them: 64-bit platforms only.
var _ [unsafe.Sizeof(uintptr(0)) - 8]struct{}

func newProducer(t *testing.T, ring int) *producer {
	p := &producer{t: t, ring: ring, progs: map[progKey]int{}}
	t.Cleanup(func() {
		for _, fd := range p.progs {
			unix.Close(fd)
		}
	})
	return p
}

// load returns the program for records of size bytes, loading it once.
func (p *producer) load(key progKey) (int, error) {
	if fd, ok := p.progs[key]; ok {
		return fd, nil
	}
	insns := recordProg(p.ring, key.size, key.discard)
	license := []byte("GPL\x00")
	var log []byte // only to say why it failed: a full log fails the load
	for try := 0; ; try++ {
		attr := struct {
			progType, insnCnt uint32
			insns, license    unsafe.Pointer
			logLevel, logSize uint32
			logBuf            unsafe.Pointer
		}{progType: unix.BPF_PROG_TYPE_SOCKET_FILTER, insnCnt: uint32(len(insns)),
			insns: unsafe.Pointer(&insns[0]), license: unsafe.Pointer(&license[0])}
		if log != nil {
			attr.logLevel, attr.logSize, attr.logBuf = 1, uint32(len(log)), unsafe.Pointer(&log[0])
		}
		fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
		if err == nil {
			p.progs[key] = fd
			return fd, nil
		}
		if errors.Is(err, unix.EAGAIN) && try < 5 {
			continue // a signal (the Go runtime's preemption) interrupted the verifier: libbpf retries too
		}
		if log != nil {
			return -1, fmt.Errorf("loading program: %w\n%s", err, bytes.TrimRight(log, "\x00"))
		}
		log = make([]byte, 1<<20)
	}
}

// emit writes the next record, of size bytes, submitted or discarded, and
// returns its content. The ring buffer must have room for it.
func (p *producer) emit(size int, discard bool) []byte {
	p.t.Helper()
	prog, err := p.load(progKey{size, discard})
	if err != nil {
		p.t.Fatal(err)
	}
	seq := p.seq
	p.seq++
	var ctx [cb0/4 + 1]uint32 // struct __sk_buff up to cb[0]
	ctx[cb0/4] = seq
	packet := make([]byte, 64) // at least an Ethernet header
	attr := struct {
		progFd, retval, dataSizeIn, dataSizeOut uint32
		dataIn, dataOut                         unsafe.Pointer
		repeat, duration, ctxSizeIn, ctxSizeOut uint32
		ctxIn, ctxOut                           unsafe.Pointer
	}{progFd: uint32(prog), dataSizeIn: uint32(len(packet)), dataIn: unsafe.Pointer(&packet[0]),
		ctxSizeIn: uint32(unsafe.Sizeof(ctx)), ctxIn: unsafe.Pointer(&ctx)}
	if _, err := bpf(unix.BPF_PROG_TEST_RUN, unsafe.Pointer(&attr), unsafe.Sizeof(attr)); err != nil {
		p.t.Fatalf("running program: %v", err)
	}
	if attr.retval != 1 {
		p.t.Fatalf("record %d (%d bytes): ring buffer full", seq, size)
	}
	return content(seq, size)
}
