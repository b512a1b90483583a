fallback-hint = 这里不需要发送消息。请使用下方按钮，或发送 /help。
fallback-wrong-input = 这不是我需要的内容。请按上方提示发送，或点击“主菜单”。
fallback-stale-button = 此按钮已过期。请重新打开菜单。
fallback-unknown-command = 我不认识命令 { $command }。发送 /help 查看我能做什么，或使用下方菜单。
