def connect():
    return "connected"
