class Job:
    def run(self):
        return self.action()


class Backup(Job):
    def __init__(self):
        self.action = self.copy

    def copy(self):
        return "copied"


class Cleanup(Job):
    def __init__(self):
        self.action = self.delete

    def delete(self):
        return "deleted"


Backup().run()
Cleanup().run()
