//go:build softmaxctl_cuda

package cuda

import (
	"unsafe"

	"github.com/softmaxctl/softmaxctl/internal/device/program"
)

var _ program.Updater = (*Executor)(nil)

// Update enqueues the copy of the runtime scalars [lr, weight decay,
// momentum] and the update steps; the gradients and velocities never leave
// the GPU.
func (e *Executor) Update(lr, weightDecay, momentum float32) error {
	if e.p.Optim == nil {
		return program.ErrNoOptim
	}
	return e.enqueueUpdate(e.p.Optim.Hyper, lr, weightDecay, momentum)
}

// Velocity copies the velocities of W and b from the GPU.
func (e *Executor) Velocity(vw, vb []float32) error {
	return e.velocity(vw, vb, false)
}

// SetVelocity copies the velocities of W and b to the GPU.
func (e *Executor) SetVelocity(vw, vb []float32) error {
	return e.velocity(vw, vb, true)
}

func (e *Executor) velocity(vw, vb []float32, set bool) error {
	if e.p.Optim == nil {
		return program.ErrNoOptim
	}
	if err := e.p.CheckParams(vw, vb); err != nil {
		return err
	}
	done, err := e.enter()
	if err != nil {
		return err
	}
	defer done()
	for _, v := range []struct {
		id  program.BufferID
		buf []float32
	}{{e.p.Optim.VW, vw}, {e.p.Optim.VB, vb}} {
		if set {
			err = e.upload(v.id, unsafe.Pointer(&v.buf[0]), len(v.buf))
		} else {
			err = e.download(unsafe.Pointer(&v.buf[0]), v.id, len(v.buf))
		}
		if err != nil {
			return err
		}
	}
	return nil
}
