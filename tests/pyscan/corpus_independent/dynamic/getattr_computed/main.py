class Robot:
    def walk(self):
        return "walk"

    def talk(self):
        return "talk"


def act(robot, verb):
    return getattr(robot, verb)()


act(Robot(), "walk")
