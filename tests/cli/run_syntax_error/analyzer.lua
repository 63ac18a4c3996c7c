local inquest = require "inquest"
return inquest.analyzer { name = "x.y"
