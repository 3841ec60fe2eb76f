"""Contract part 5, `store.imagesenders.ImageSenders`: the senders whose remote
images an account always loads.

Runs on the accounts of part 1 (`tests/store/directory`).
"""
