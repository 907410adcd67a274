package org.noduleid;

/** A library call failed: {@link #code()} is the NID_E* status and the
 *  message is nid_last_error() of the failing call (which names the
 *  argument, file, frame or field and what was expected). */
public class NoduleIdException extends Exception {
    private static final long serialVersionUID = 1L;
    private final int code;

    public NoduleIdException(int code, String message) {
        super(message);
        this.code = code;
    }

    /** The negative NID_E* status code. */
    public int code() { return code; }

    /** The code as an enum. */
    public Status status() { return Status.of(code); }

    @Override
    public String toString() {
        return "NoduleIdException[" + status() + " (" + code + ")]: " + getMessage();
    }
}
