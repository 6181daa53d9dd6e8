-- Nothing to undo: the reads added and the names changed are kept (the rules they follow stay).
SELECT 1;
