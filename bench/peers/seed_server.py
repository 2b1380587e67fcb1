# The seed's Python relay (shared/seed/000_9def6452e91634b5.txt), made runnable and nothing more,
# as a bench baseline. Changes from the blog post, each needed for it to run at all:
# - `import json` and `import time` were missing;
# - `new Date().getTime()` is JavaScript: `int(time.time() * 1000)` is the same value in Python;
# - the port comes from `--port` (default 8000, the seed's) so the bench can pick a free one.
# Everything else, including `del connections[user_id]` and `id` taken from `mine`, is the seed's.
# Runs with Debian's python3-websockets (10.x, the legacy `handler(websocket, path)` API).
import asyncio
import json
import sys
import time

import websockets

# 存储WebSocket连接和用户信息的字典
connections = {}


# 处理客户端连接请求
async def handle_connection(websocket, path):
    # 获取用户ID
    user_id = await websocket.recv()
    # 将WebSocket连接和用户信息存储到字典中
    connections[user_id] = websocket
    try:
        # 监听客户端消息
        async for message in websocket:
            # 解析消息
            data = json.loads(message)
            # 获取接收方ID
            to_user_id = data['to']['id']
            # 获取发送方信息
            from_user = data['mine']
            # 获取接收方信息
            to_user = data['to']
            # 如果接收方在线,则将消息发送给接收方
            if to_user_id in connections:
                await connections[to_user_id].send(json.dumps({
                    'username': from_user['username'],
                    'avatar': from_user['avatar'],
                    'id': from_user['id'],
                    'type': 'friend',
                    'content': data['mine']['content'],
                    'timestamp': int(time.time() * 1000)
                }))
    finally:
        # 删除字典中的WebSocket连接和用户信息
        del connections[user_id]


port = int(sys.argv[sys.argv.index('--port') + 1]) if '--port' in sys.argv else 8000
# 启动WebSocket服务器
start_server = websockets.serve(handle_connection, 'localhost', port)
# 运行事件循环
asyncio.get_event_loop().run_until_complete(start_server)
asyncio.get_event_loop().run_forever()
