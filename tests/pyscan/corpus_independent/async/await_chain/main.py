import asyncio


async def fetch():
    return 1


async def handler():
    return await fetch()


asyncio.run(handler())
