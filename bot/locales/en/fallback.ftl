fallback-hint = I did not expect a message here. Use the buttons below, or /help.
fallback-wrong-input = That is not what I am waiting for. Send the text asked for above, or tap Main menu.
fallback-stale-button = This button is out of date. Open the menu again.
fallback-unknown-command = I do not know the command { $command }. /help lists what I can do, or use the menu below.
