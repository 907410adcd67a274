package org.noduleid;

import java.lang.ref.Cleaner;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;

/**
 * Base of the handle classes: owns one native handle, frees it on
 * {@link #close()} or, if the object is dropped without close, through a
 * {@link Cleaner} once it is unreachable. After close the handle is zero and
 * every method throws {@link IllegalStateException}.
 *
 * <p>Subclasses call {@link #handle()} to get the pointer and end each
 * native call with {@code Reference.reachabilityFence(this)}, so the Cleaner
 * cannot free the handle while a call on it is still running.
 */
abstract class NativeHandle implements AutoCloseable {
    static final Cleaner CLEANER = Cleaner.create();
    /** Handles freed by the Cleaner (not by close); read by the tests. */
    static final AtomicLong FREED_BY_CLEANER = new AtomicLong();

    /** The cleaning action; must not refer to the handle object. */
    private static final class State implements Runnable {
        final AtomicLong ptr;
        final LongConsumer free;
        /** Objects whose memory the native handle borrows (direct buffers). */
        @SuppressWarnings("unused")
        final Object keepAlive;
        volatile boolean closing;

        State(long ptr, LongConsumer free, Object keepAlive) {
            this.ptr = new AtomicLong(ptr);
            this.free = free;
            this.keepAlive = keepAlive;
        }

        @Override
        public void run() {
            long p = ptr.getAndSet(0);
            if (p != 0) {
                if (!closing) FREED_BY_CLEANER.incrementAndGet();
                free.accept(p);
            }
        }
    }

    private final State state;
    private final Cleaner.Cleanable cleanable;

    NativeHandle(long ptr, LongConsumer free, Object keepAlive) {
        if (ptr == 0) throw new IllegalArgumentException("null native handle");
        this.state = new State(ptr, free, keepAlive);
        this.cleanable = CLEANER.register(this, state);
    }

    /** The native pointer; IllegalStateException after close. */
    final long handle() {
        long p = state.ptr.get();
        if (p == 0) throw new IllegalStateException(getClass().getSimpleName() + " is closed");
        return p;
    }

    /** Hand the native object over to the library (a call that takes
     *  ownership, e.g. a grouping's video source): returns the pointer and
     *  leaves this object closed without freeing it. Objects the handle
     *  borrows (keepAlive) stay reachable as long as this object is. */
    final long release() {
        long p = state.ptr.getAndSet(0);
        if (p == 0) throw new IllegalStateException(getClass().getSimpleName() + " is closed");
        return p;
    }

    /** True once closed. */
    public final boolean isClosed() { return state.ptr.get() == 0; }

    /** Free the native object. Idempotent. No other call on this object may
     *  be running (the rule of the C free function). */
    @Override
    public final void close() {
        state.closing = true;
        cleanable.clean();
    }
}
