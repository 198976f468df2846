FROM ghcr.io/freebsd/freebsd-runtime:14.3
MAINTAINER Jane Doe <jane@example.org>
RUN pkg install -y node20 npm-node20
WORKDIR /usr/src/app
ONBUILD COPY package.json package-lock.json ./
ONBUILD RUN npm ci --omit=dev
onbuild copy . .
CMD ["node", "server.js"]
